//! `fbup-emulator`: run the Graph Resumable Upload API emulator from the command line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    fbup_emulator::cli::run(fbup_emulator::cli::Args::parse())
}
