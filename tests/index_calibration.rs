//! Calibration never goes below the OWASP floor, however slow the machine looks: with a
//! target far below what one hash takes (as on a loaded machine), memory is lowered to the
//! floor and no further.

use std::time::Duration;

use dhtchat::index::account::KdfParams;
use dhtchat::index::client::calibrate;

#[test]
fn calibration_on_a_slow_machine_stops_at_the_floor() {
    let (params, took) = calibrate(Duration::from_millis(1)).unwrap();
    assert_eq!(params, KdfParams::FLOOR);
    assert!(params.check().is_ok());
    eprintln!("floor hash took {took:?}");
}
