//! The web crawler alone: `cargo run --release --example web_crawler`.
//! See `systems/web_crawler.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/web_crawler.rs"]
mod web_crawler;

fn main() {
    let r = web_crawler::run(&web_crawler::Config::default());
    println!("{}", r.table);
}
