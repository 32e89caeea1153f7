//! `dhtchat inspect`: the operator's datagram dissector (filled in below).
