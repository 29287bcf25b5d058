//! `basalt-server [/path/to/redis.conf] [--name value ...]`, like `redis-server`.

/// jemalloc, every allocation counted for `used_memory` and eviction (`server::memory`).
#[global_allocator]
static ALLOC: server::memory::Counting<tikv_jemallocator::Jemalloc> =
    server::memory::Counting(tikv_jemallocator::Jemalloc);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match server::config::Config::from_args(&args) {
        Ok(server::config::Startup::Run(c)) => *c,
        Ok(server::config::Startup::Version) => {
            println!(
                "Basalt server v={} (Redis {} compatible) malloc=jemalloc bits=64",
                env!("CARGO_PKG_VERSION"),
                server::config::REDIS_VERSION
            );
            return;
        }
        Ok(server::config::Startup::Help) => {
            println!("Usage: basalt-server [/path/to/redis.conf] [options] [-]");
            println!("       basalt-server - (read config from stdin)");
            println!("       basalt-server -v or --version");
            println!("       basalt-server -h or --help");
            println!();
            println!("Examples:");
            println!("       basalt-server (run the server with default conf)");
            println!("       basalt-server /etc/redis/6379.conf");
            println!("       basalt-server --port 7777");
            println!("       basalt-server /etc/myredis.conf --loglevel verbose");
            return;
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = server::run(config) {
        server::util::log(server::util::Level::Warning, &format!("{e:#}"));
        std::process::exit(1);
    }
}
