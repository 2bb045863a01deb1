//! `finwise-cli`: a command-line client of the FinWise server; see `finwise::cli`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = finwise::cli::Args::parse();
    match finwise::cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("finwise-cli: {error}");
            std::process::ExitCode::from(error.exit_code())
        }
    }
}
