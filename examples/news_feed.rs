//! The news feed alone: `cargo run --release --example news_feed`. See
//! `systems/news_feed.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/news_feed.rs"]
mod news_feed;

fn main() {
    let r = news_feed::run(&news_feed::Config::default());
    println!("{}", r.table);
}
