#!/usr/bin/env bash
# Build, tag and optionally push every latticenas container image.
#
# The images, their references and their Dockerfiles come from `python -m latticenas.images`
# (src/latticenas/images.py), the one place they are named; one registry and one tag apply to all.
# The build context is the repository root (see .dockerignore).
#
#   docker/build.sh                                  # build all, default registry and tag
#   docker/build.sh --registry REG --tag T --push    # build and push all as REG/<repo>:T
#   LATTICENAS_REGISTRY=REG LATTICENAS_TAG=T docker/build.sh --only trial-cpu --dry-run
#
# Run `docker/build.sh --help` for every option.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: docker/build.sh [options] [-- extra docker build arguments]

Builds every image listed by `python -m latticenas.images` (or the ones named with --only)
from the repository root, tagged with exactly the reference latticenas.images gives it.

Options:
  --registry REG   registry/namespace of every image (env LATTICENAS_REGISTRY;
                   default: latticenas.images.DEFAULT_REGISTRY)
  --tag TAG        tag of every image (env LATTICENAS_TAG; default: the package version)
  --only NAME      build only this image (repeatable); names: trial-cpu trial-gpu
                   trial-tpu component (as listed by python -m latticenas.images)
  --platform P     target platform (env LATTICENAS_PLATFORM; default: linux/amd64, the
                   GKE CPU, GPU and TPU node pools)
  --push           push each image after building it
  --dry-run        print the commands (a runnable script) and run nothing; needs no daemon
  -h, --help       show this help

Environment:
  DOCKER   the client to run (default: docker)
  PYTHON   the interpreter that runs latticenas.images (default: the repository's
           .venv/bin/python if present, else python3); only the standard library is needed
EOF
}

die() {
    echo "build.sh: $*" >&2
    exit 2
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

registry="${LATTICENAS_REGISTRY:-}"
tag="${LATTICENAS_TAG:-}"
platform="${LATTICENAS_PLATFORM:-linux/amd64}"
docker_bin="${DOCKER:-docker}"
push=0
dry_run=0
only=()
extra_args=()

while (($# > 0)); do
    case "$1" in
        --registry | --tag | --only | --platform)
            (($# >= 2)) || die "$1 needs a value"
            case "$1" in
                --registry) registry="$2" ;;
                --tag) tag="$2" ;;
                --only) only+=("$2") ;;
                *) platform="$2" ;;
            esac
            shift 2
            ;;
        --registry=*) registry="${1#*=}"; shift ;;
        --tag=*) tag="${1#*=}"; shift ;;
        --only=*) only+=("${1#*=}"); shift ;;
        --platform=*) platform="${1#*=}"; shift ;;
        --push) push=1; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; extra_args=("$@"); break ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

if [[ -n "${PYTHON:-}" ]]; then
    python_bin="$PYTHON"
elif [[ -x "$repo_root/.venv/bin/python" ]]; then
    python_bin="$repo_root/.venv/bin/python"
else
    python_bin="python3"
fi

# The single source of names: one "name<TAB>reference<TAB>dockerfile" line per image. The
# module imports nothing but the standard library and latticenas/__init__.py, so it runs from
# src/ without the package or its dependencies installed.
listing="$(
    LATTICENAS_REGISTRY="$registry" LATTICENAS_TAG="$tag" \
        PYTHONPATH="$repo_root/src${PYTHONPATH:+:$PYTHONPATH}" \
        "$python_bin" -m latticenas.images
)" || die "could not list the images with: $python_bin -m latticenas.images"
[[ -n "$listing" ]] || die "python -m latticenas.images listed no image"

names=()
refs=()
dockerfiles=()
while IFS=$'\t' read -r name ref dockerfile; do
    [[ -n "$name" ]] || continue
    names+=("$name")
    refs+=("$ref")
    dockerfiles+=("$dockerfile")
done <<<"$listing"

for wanted in "${only[@]+"${only[@]}"}"; do
    found=0
    for name in "${names[@]}"; do
        [[ "$name" == "$wanted" ]] && found=1
    done
    ((found)) || die "--only $wanted: no such image (known: ${names[*]})"
done

revision="unknown"
if git -C "$repo_root" rev-parse --verify --quiet HEAD >/dev/null 2>&1; then
    revision="$(git -C "$repo_root" rev-parse HEAD)"
    if ! git -C "$repo_root" diff --quiet HEAD -- 2>/dev/null; then
        revision="$revision-dirty"
    fi
fi

# Print a command as one shell-quoted line (dry run), or run it.
run() {
    if ((dry_run)); then
        local quoted
        printf -v quoted '%q ' "$@"
        echo "${quoted% }"
    else
        "$@"
    fi
}

if ((dry_run)); then
    echo "# docker/build.sh --dry-run: the commands a real run would execute"
    printf 'cd %q\n' "$repo_root"
else
    command -v "$docker_bin" >/dev/null 2>&1 || die "no '$docker_bin' client on PATH (set DOCKER)"
fi
cd "$repo_root"

built=0
for i in "${!names[@]}"; do
    name="${names[$i]}"
    ref="${refs[$i]}"
    dockerfile="${dockerfiles[$i]}"
    if ((${#only[@]} > 0)); then
        selected=0
        for wanted in "${only[@]}"; do
            [[ "$name" == "$wanted" ]] && selected=1
        done
        ((selected)) || continue
    fi
    [[ -f "$dockerfile" ]] || die "$name: $dockerfile does not exist"

    # ${ref##*:} is the tag: a registry port's colon always comes before the last slash.
    ((dry_run)) || echo "==> $name: building $ref from $dockerfile" >&2
    run "$docker_bin" build \
        --file "$dockerfile" \
        --tag "$ref" \
        --platform "$platform" \
        --build-arg "VERSION=${ref##*:}" \
        --build-arg "REVISION=$revision" \
        "${extra_args[@]+"${extra_args[@]}"}" \
        .
    if ((push)); then
        ((dry_run)) || echo "==> $name: pushing $ref" >&2
        run "$docker_bin" push "$ref"
    fi
    built=$((built + 1))
done

if ((!dry_run)); then
    action="built"
    ((push)) && action="built and pushed"
    echo "==> $action $built image(s)" >&2
fi
