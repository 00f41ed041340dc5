//! Every system example, end to end: `cargo run --release --example systems`.
//!
//! Each system lives in `examples/systems/<name>.rs` with a `run(&Config) ->
//! Report` and its own tests; `examples/<name>.rs` runs one alone. The tests of
//! all of them run with the workspace's test command (this example has
//! `test = true`).

// A toolbox shared by every system: not every system uses every tool.
#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/crawl_dedup.rs"]
mod crawl_dedup;
#[path = "systems/dropbox.rs"]
mod dropbox;
#[path = "systems/messenger.rs"]
mod messenger;
#[path = "systems/news_feed.rs"]
mod news_feed;
#[path = "systems/proximity.rs"]
mod proximity;
#[path = "systems/rate_limiter.rs"]
mod rate_limiter;
#[path = "systems/ticketmaster.rs"]
mod ticketmaster;
#[path = "systems/twitter_search.rs"]
mod twitter_search;
#[path = "systems/typeahead.rs"]
mod typeahead;
#[path = "systems/uber.rs"]
mod uber;
#[path = "systems/web_crawler.rs"]
mod web_crawler;
#[path = "systems/youtube.rs"]
mod youtube;

use std::time::Instant;

fn main() {
    let start = Instant::now();
    // One line per system, in the order of the issues: each runs its built-in
    // workload and prints its table.
    println!("{}", proximity::run(&proximity::Config::default()).table);
    println!("{}", uber::run(&uber::Config::default()).table);
    println!(
        "{}",
        ticketmaster::run(&ticketmaster::Config::default()).table
    );
    println!(
        "{}",
        twitter_search::run(&twitter_search::Config::default()).table
    );
    println!("{}", typeahead::run(&typeahead::Config::default()).table);
    println!("{}", news_feed::run(&news_feed::Config::default()).table);
    println!(
        "{}",
        web_crawler::run(&web_crawler::Config::default()).table
    );
    println!(
        "{}",
        crawl_dedup::run(&crawl_dedup::Config::default()).table
    );
    println!("{}", youtube::run(&youtube::Config::default()).table);
    println!("{}", dropbox::run(&dropbox::Config::default()).table);
    println!("{}", messenger::run(&messenger::Config::default()).table);
    println!(
        "{}",
        rate_limiter::run(&rate_limiter::Config::default()).table
    );
    println!("all systems ran in {:.2} s", start.elapsed().as_secs_f64());
}
