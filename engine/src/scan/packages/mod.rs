//! Installed-package databases (filled in below).
