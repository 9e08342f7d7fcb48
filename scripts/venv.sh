# Sourced by scripts/demo and scripts/test: use the active virtual environment, else
# make and use ./.venv (stock Debian/Ubuntu Pythons refuse `pip install` outside one:
# "externally-managed-environment"). Root on a CI machine without a venv module keeps
# the system interpreter only when it is not externally managed.
in_venv() { python3 -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)'; }
externally_managed() {
  python3 - <<'PY'
import sys, sysconfig, pathlib
sys.exit(0 if (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists() else 1)
PY
}
if ! in_venv && { externally_managed || [ -d .venv ]; }; then
  if [ ! -x .venv/bin/python3 ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
      sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      ver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      echo "installing python${ver}-venv (needed to make .venv)"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "python${ver}-venv" >/dev/null
      rm -rf .venv
      python3 -m venv .venv
    fi
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
