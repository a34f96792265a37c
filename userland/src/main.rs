use clap::Parser;

fn main() {
    let cli = veto::cli::Cli::parse();
    match veto::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("veto: error: {err:#}");
            std::process::exit(1);
        }
    }
}
