//! The messenger alone: `cargo run --release --example messenger`. See
//! `systems/messenger.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/messenger.rs"]
mod messenger;

fn main() {
    let r = messenger::run(&messenger::Config::default());
    println!("{}", r.table);
}
