use clap::Parser;

fn main() -> std::process::ExitCode {
    hotel_api::service::run(hotel_api::cli::Cli::parse())
}
