//! Registers the upstream subgraph's SDL (the part the mirror uses) with cynic, so that every
//! upstream query in `src/sync/queries.rs` is checked against it at compile time.

fn main() {
    println!("cargo:rerun-if-changed=src/sync/upstream.graphql");
    cynic_codegen::register_schema("uniswap")
        .from_sdl_file("src/sync/upstream.graphql")
        .expect("src/sync/upstream.graphql is readable")
        .as_default()
        .expect("the upstream SDL registers with cynic");
}
