//! Shared harness for the end-to-end tests: it starts real processes
//! (opencloud nodes, QEMU guests, etcd) on loopback and cleans up after them.

pub mod etcd;
pub mod loadgen;

pub mod api;
pub mod broker;
pub mod browser;
pub mod cluster;
pub mod cluster_cli;
pub mod cluster_options;
pub mod cluster_wait;
pub mod desktop_guest;
pub mod doc_section;
pub mod front_door;
pub mod guest;
pub mod host;
pub mod nova;
pub mod openapi_check;
pub mod proxy;
pub mod register_check;
pub mod site;
pub mod slapd;
pub mod spice_record;
pub mod spice_replay;
pub mod tls_probe;
pub mod viewer;
pub mod workload;
