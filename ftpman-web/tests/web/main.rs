//! The web server and REST API against the real test servers that `scripts/test.sh` starts:
//! every endpoint, access control over the whole router, and no stored secret in any answer.

use ftpman_testkit as harness;
mod support;

mod access;
mod browser;
mod groups;
mod jobs;
mod sites;
mod system;
