//! End-to-end tests: the real `reprove` binary against repositories made by real `git`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

mod attacks;
mod audit;
mod baseline;
mod ci_templates;
mod conformance;
mod fetch;
mod help;
mod image_release;
mod images;
mod init;
mod keyless;
mod keys;
mod rebuild;
mod registry;
mod release;
mod remote;
mod signatures;
mod signing;
mod soup;
