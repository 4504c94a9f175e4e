# Sourced by the install tests: install_scratch BUILD_DIR SCRATCH installs the built library into
# SCRATCH/root, as `meson install` would for a user, and points pkg-config at it, so that what follows builds
# against the installed headers, library and attnagent.pc only.
install_scratch() {
  local build=$1 scratch=$2 pc prefix
  rm -rf "$scratch" && mkdir -p "$scratch"
  meson install -C "$build" --destdir "$scratch/root" --quiet --no-rebuild
  pc=$(find "$scratch/root" -name attnagent.pc | head -n 1)
  # The installed .pc names the configured prefix; point it at the scratch root, as if installed there.
  prefix=$(sed -n 's/^prefix=//p' "$pc")
  mkdir -p "$scratch/pkgconfig"
  sed "s|^prefix=.*|prefix=$scratch/root$prefix|" "$pc" > "$scratch/pkgconfig/attnagent.pc"
  export PKG_CONFIG_PATH=$scratch/pkgconfig
}
