//! The runs people watch, each played on one live run ([`backchannel_stage::Stage`]):
//! the demo exchange (`demo`), the threat-model lab's rows (`attacks`, `demo
//! --adversary`) and scenario files (`demo --scenario`), with each node's account,
//! what each side knows and what a judge can prove.

#![forbid(unsafe_code)]

mod adversary_run;
pub mod attacks;
pub mod demo;
mod exchange;
mod judge_tests;
pub mod lab_run;
mod matrix_html;
pub mod scenario_run;
mod summary;
