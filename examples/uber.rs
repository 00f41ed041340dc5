//! Uber's driver locations, batched QuadTree servers, nearest-driver queries
//! and area notifications alone: `cargo run --release --example uber`. See
//! `systems/uber.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/uber.rs"]
mod uber;

fn main() {
    let r = uber::run(&uber::Config::default());
    println!("{}", r.table);
}
