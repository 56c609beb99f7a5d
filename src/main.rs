//! The `mxguard` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    mxguard::cli::run(mxguard::cli::Cli::parse())
}
