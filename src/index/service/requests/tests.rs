//! Unit tests of the request handlers: one service, hand-built datagrams.
