//! The proximity service alone: `cargo run --release --example proximity`.
//! See `systems/proximity.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/proximity.rs"]
mod proximity;

fn main() {
    let r = proximity::run(&proximity::Config::default());
    println!("{}", r.table);
}
