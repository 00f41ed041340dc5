//! The crawler's URL and document dedup alone:
//! `cargo run --release --example crawl_dedup`. See `systems/crawl_dedup.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/crawl_dedup.rs"]
mod crawl_dedup;

fn main() {
    let r = crawl_dedup::run(&crawl_dedup::Config::default());
    println!("{}", r.table);
}
