# shellcheck shell=bash
# Environment shared by the project's scripts. Source it: `. scripts/env.sh`.
TRADEWATCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TRADEWATCH_ROOT
# shellcheck source=scripts/versions.env
. "$TRADEWATCH_ROOT/scripts/versions.env"
export QUESTDB_VERSION QUESTDB_PREVIOUS_VERSION JAVA_MAJOR DEBIAN_SUITE
export TRADEWATCH_CACHE="${TRADEWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tradewatch}"
export TRADEWATCH_IMAGE="${TRADEWATCH_IMAGE:-localhost/tradewatch-debian:$DEBIAN_SUITE}"
export TRADEWATCH_QUESTDB_ARCHIVE="${TRADEWATCH_QUESTDB_ARCHIVE:-$TRADEWATCH_CACHE/artifacts/questdb-$QUESTDB_VERSION-rt-linux-x86-64.tar.gz}"
export TRADEWATCH_QUESTDB_PREVIOUS_ARCHIVE="${TRADEWATCH_QUESTDB_PREVIOUS_ARCHIVE:-$TRADEWATCH_CACHE/artifacts/questdb-$QUESTDB_PREVIOUS_VERSION-no-jre-bin.tar.gz}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$TRADEWATCH_ROOT/scripts/podman/containers.conf}"
export ANSIBLE_CONFIG="$TRADEWATCH_ROOT/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$TRADEWATCH_ROOT/collections:$TRADEWATCH_ROOT/.ansible/collections"
export ANSIBLE_ROLES_PATH="$TRADEWATCH_ROOT/roles"
# Mitogen's strategy plugins (requirements/dev.in), once the venv exists: ANSIBLE_STRATEGY=mitogen_linear
# picks it (scripts/deploy does for the embedded default, molecule.yml for the scenarios).
for _tw_mitogen in "$TRADEWATCH_ROOT"/.venv/lib/python3*/site-packages/ansible_mitogen/plugins/strategy; do
  [[ -d "$_tw_mitogen" ]] && export ANSIBLE_STRATEGY_PLUGINS="$_tw_mitogen"
done
unset _tw_mitogen
export ANSIBLE_LOCAL_TEMP="${ANSIBLE_LOCAL_TEMP:-$TRADEWATCH_ROOT/.ansible/tmp}"
# The interpreter that creates the venv (found before the venv goes on PATH).
export TRADEWATCH_PYTHON="${TRADEWATCH_PYTHON:-$(PATH="${PATH//$TRADEWATCH_ROOT\/.venv\/bin:/}" command -v python3)}"
export VIRTUAL_ENV="$TRADEWATCH_ROOT/.venv"
case ":$PATH:" in *":$VIRTUAL_ENV/bin:"*) ;; *) export PATH="$VIRTUAL_ENV/bin:$PATH" ;; esac

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# artifact_present FILE: FILE and FILE.sha256 exist and agree (a built artifact is kept until it does not).
artifact_present() {
  [[ -f "$1" && -f "$1.sha256" ]] && (cd "$(dirname "$1")" && sha256sum --quiet -c "$1.sha256")
}

# pack_artifact STAGE NAME FILE: the folder STAGE/NAME as a reproducible tarball FILE, with FILE.sha256.
pack_artifact() {
  mkdir -p "$(dirname "$3")"
  tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -czf "$3.tmp" "$2"
  mv "$3.tmp" "$3"
  (cd "$(dirname "$3")" && sha256sum "$(basename "$3")" > "$3.sha256")
  log "Built $3 ($(du -h "$3" | cut -f1)), sha256 $(cut -d' ' -f1 "$3.sha256")"
}

# fetch_questdb_jar VERSION SHA256 DIR: org.questdb:questdb:VERSION from Maven into DIR, checked.
fetch_questdb_jar() {
  log "Fetching org.questdb:questdb:$1 with Maven"
  mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="org.questdb:questdb:$1:jar" -DoutputDirectory="$3" -Dmdep.useBaseVersion=true
  echo "$2  $3/questdb-$1.jar" | sha256sum --quiet -c - \
    || die "questdb-$1.jar does not match its sha256 in scripts/versions.env"
}
