//! What clawkeeper reads from OpenClaw from the outside: its log lines, classified into channel
//! signals ([`channel_log`]), and its HTTP health endpoints, probed on the hyper stack the SDK
//! already builds on ([`probe`]).

pub mod channel_log;
pub mod probe;
