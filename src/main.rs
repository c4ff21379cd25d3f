use clap::Parser;
use coffer::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    coffer::app::init_logging(cli.log_format);
    if let Command::Serve(args) = &cli.command {
        match coffer::cli::dev_softhsm_conf(args) {
            // SAFETY: no other thread exists yet (the runtime is built below), so nothing
            // reads the environment concurrently; SoftHSM reads SOFTHSM2_CONF when loaded.
            Ok(Some(conf)) => unsafe { std::env::set_var("SOFTHSM2_CONF", conf) },
            Ok(None) => {}
            Err(e) => return fail(&e),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e.into()),
    };
    match runtime.block_on(coffer::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &anyhow::Error) -> std::process::ExitCode {
    eprintln!("coffer: {error:#}");
    std::process::ExitCode::FAILURE
}
