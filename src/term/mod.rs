//! `sanctuary join`: a line-based terminal client of protocol v1, for people on a Pi
//! over SSH and for scripts. It speaks to the server exactly as the page does (same
//! `/config.json`, key schedule, envelopes and commands) using [`crate::client`].
//!
//! Files, one job each: `args` the flags, `link` invite links and addresses,
//! `config` the HTTP fetch of `/config.json`, `secret` passphrases without echo,
//! `commands` typed slash commands, `html` and `render` received text made plain
//! and inert, `pace` send pacing, `exit` exit statuses, `run` joining (flags to `welcome`),
//! `room` the room's state machine (`welcome` to exit status).
//!
//! Nothing is written anywhere but the terminal: no history, no log, no file.

mod args;
mod commands;
mod config;
mod exit;
mod html;
mod link;
mod pace;
mod render;
mod room;
mod run;
mod secret;

pub use args::JoinArgs;
pub use run::run;

/// For the test that keeps the page's, the terminal's and the document's codes in step.
#[cfg(test)]
pub(crate) use render::page_wording;
