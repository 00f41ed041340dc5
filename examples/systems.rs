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
#[path = "systems/proximity.rs"]
mod proximity;
#[path = "systems/typeahead.rs"]
mod typeahead;

use std::time::Instant;

fn main() {
    let start = Instant::now();
    let r = proximity::run(&proximity::Config::default());
    println!("{}", r.table);
    let r = crawl_dedup::run(&crawl_dedup::Config::default());
    println!("{}", r.table);
    let r = typeahead::run(&typeahead::Config::default());
    println!("{}", r.table);
    println!("all systems ran in {:.2} s", start.elapsed().as_secs_f64());
}
