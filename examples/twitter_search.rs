//! Twitter search, sharded by tweet id with an aggregator and an index builder:
//! `cargo run --release --example twitter_search`. See `systems/twitter_search.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/twitter_search.rs"]
mod twitter_search;

fn main() {
    let r = twitter_search::run(&twitter_search::Config::default());
    println!("{}", r.table);
}
