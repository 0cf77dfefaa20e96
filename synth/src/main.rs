//! `synth`: renders and checks the rotation stack. All work is in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match synth::cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
