#!/usr/bin/env bash
# Installs the pinned Bicep CLI for the infra tests and links it to tools/bin/bicep.
#
# The CLI comes from NuGet (Azure.Bicep.CommandLine.linux-x64: one self-contained executable
# under tools/ in the package), restored with `dotnet restore` of tools/bicep-cli/bicep-cli.proj
# into tools/.bicep/packages, so no global state is touched and the path is known. Idempotent:
# a second run with the package present only checks the version. Needs the .NET SDK (`dotnet`).
# test/infra finds the CLI at tools/bin/bicep (or $FWDD_BICEP) and fails when it is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="0.49.2"   # keep in step with tools/bicep-cli/bicep-cli.proj
packages="$root/tools/.bicep/packages"
exe="$packages/azure.bicep.commandline.linux-x64/$version/tools/bicep"

if [ ! -x "$exe" ]; then
  command -v dotnet >/dev/null || { echo "setup-bicep: dotnet not found; install the .NET SDK" >&2; exit 1; }
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
    dotnet restore "$root/tools/bicep-cli/bicep-cli.proj" --packages "$packages" --verbosity quiet
  chmod +x "$exe"
fi

got="$("$exe" --version)"
case "$got" in
  *"version $version "*) ;;
  *) echo "setup-bicep: expected Bicep CLI $version, $exe says: $got" >&2; exit 1 ;;
esac
mkdir -p "$root/tools/bin"
ln -sf "$exe" "$root/tools/bin/bicep"
echo "setup-bicep: $got at tools/bin/bicep"
