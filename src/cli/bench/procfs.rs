//! Process CPU time and peak resident memory, read from Linux's `/proc` without `libc`.
//!
//! - CPU: fields 14 (`utime`) and 15 (`stime`) of `/proc/self/stat`, the user and system time
//!   of all the process's threads, in clock ticks. The tick rate (`sysconf(_SC_CLK_TCK)`) is
//!   read from the `AT_CLKTCK` entry of `/proc/self/auxv`, which the kernel fills in for every
//!   process; 100 (the value on every Linux architecture) if that file cannot be read. The
//!   resolution is one tick (10 ms), so a CPU figure needs a window of seconds.
//! - Peak RSS: `VmHWM` ("high water mark") of `/proc/self/status`, in KiB.
//!
//! Every reader returns `None` where `/proc` is missing or says something unexpected; the
//! bench then prints `na`.

use std::time::Duration;

/// `AT_CLKTCK` in the auxiliary vector (`<elf.h>`).
const AT_CLKTCK: usize = 17;
/// `AT_NULL`: the end of the auxiliary vector.
const AT_NULL: usize = 0;
/// Clock ticks per second when the auxiliary vector cannot be read.
const DEFAULT_CLK_TCK: u64 = 100;

/// User plus system CPU time of the whole process so far.
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = stat_ticks(&stat)?;
    let per_second = std::fs::read("/proc/self/auxv")
        .ok()
        .and_then(|auxv| auxv_clk_tck(&auxv))
        .unwrap_or(DEFAULT_CLK_TCK);
    Some(ticks_to_duration(ticks, per_second))
}

/// The process's peak resident set size so far, in bytes.
pub(crate) fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm_bytes(&status)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. Field 2 (the command
/// name, in parentheses) may hold spaces and parentheses, so counting starts after the last
/// `)`: the next field there is field 3.
fn stat_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The `AT_CLKTCK` value of an auxiliary vector: native-endian (key, value) pairs of machine
/// words, ending with `AT_NULL`.
fn auxv_clk_tck(auxv: &[u8]) -> Option<u64> {
    const WORD: usize = size_of::<usize>();
    let word = |b: &[u8]| -> Option<usize> { Some(usize::from_ne_bytes(b.try_into().ok()?)) };
    for pair in auxv.chunks_exact(2 * WORD) {
        let key = word(&pair[..WORD])?;
        let value = word(&pair[WORD..])?;
        match key {
            AT_NULL => return None,
            AT_CLKTCK if value > 0 => return u64::try_from(value).ok(),
            _ => {}
        }
    }
    None
}

/// `VmHWM:   12345 kB` of a `/proc/<pid>/status`, in bytes.
fn vm_hwm_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    let per_second = per_second.max(1);
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(per_second);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_14_and_15_are_summed_even_with_odd_command_names() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime ...
        let line = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 3 0";
        assert_eq!(stat_ticks(line), Some(281));
        assert_eq!(stat_ticks("4242 (x) S 1 2"), None);
        assert_eq!(stat_ticks("no parenthesis"), None);
    }

    #[test]
    fn auxv_gives_the_tick_rate() {
        let mut auxv = Vec::new();
        for (k, v) in [(6usize, 4096usize), (AT_CLKTCK, 250), (AT_NULL, 0)] {
            auxv.extend_from_slice(&k.to_ne_bytes());
            auxv.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(auxv_clk_tck(&auxv), Some(250));
        let end = 2 * size_of::<usize>();
        assert_eq!(auxv_clk_tck(&auxv[..end]), None);
        assert_eq!(auxv_clk_tck(&auxv[2 * end..]), None);
        assert_eq!(auxv_clk_tck(&[1, 2, 3]), None);
    }

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status = "Name:\tdhtchat\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_bytes(status), Some(2048 * 1024));
        assert_eq!(vm_hwm_bytes("VmRSS:\t1 kB\n"), None);
        assert_eq!(vm_hwm_bytes("VmHWM:\tlots\n"), None);
    }

    #[test]
    fn ticks_become_time() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(3, 0), Duration::from_secs(3));
    }

    #[test]
    fn this_process_has_readings_on_linux() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(cpu_time().is_some());
            assert!(peak_rss().is_some_and(|b| b > 0));
        }
    }
}
