//! The rate limiter alone: `cargo run --release --example rate_limiter`
//! (set `REDIS_URL` to run part three on Redis). See `systems/rate_limiter.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/rate_limiter.rs"]
mod rate_limiter;

fn main() {
    let r = rate_limiter::run(&rate_limiter::Config::default());
    println!("{}", r.table);
}
