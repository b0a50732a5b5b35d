#!/usr/bin/env bash
# Mirror every branch and tag of one git repository to another.
#
#   mirror.sh SOURCE_URL TARGET_URL [CACHE_DIR]
#
# Semantics of `git push --mirror`, limited to refs/heads/* and refs/tags/*: new and
# updated refs are pushed, force-pushes are propagated, refs deleted in the source are
# deleted in the target. Other refs (refs/pull/*, notes, CodeCommit's own) are left
# alone, because CodeCommit rejects them. Running it again with nothing new pushes
# nothing. A ref the target refuses makes it exit non-zero, naming the ref and the reason.
#
# In CodeBuild (CODEBUILD_BUILD_ID is set) git authenticates to CodeCommit with the
# AWS CLI's credential helper and the build role; nothing else needs credentials.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: mirror.sh SOURCE_URL TARGET_URL [CACHE_DIR]" >&2
  exit 2
fi
source_url=$1
target_url=$2
cache=${3:-}

if [[ -n "${CODEBUILD_BUILD_ID:-}" ]]; then
  git config --global credential.helper '!aws codecommit credential-helper $@'
  git config --global credential.UseHttpPath true
fi

if [[ -z "$cache" ]]; then
  cache=$(mktemp -d)
  trap 'rm -rf "$cache"' EXIT
fi
mirror="$cache/mirror.git"
if [[ ! -d "$mirror" ]]; then
  git init --quiet --bare "$mirror"
fi

refspecs=('+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*')

# An exact copy of the source's branches and tags (deleted ones pruned, rewritten ones forced).
git -C "$mirror" fetch --quiet --prune --prune-tags --force "$source_url" "${refspecs[@]}"

# Push them; --prune deletes, in the target, branches and tags the source no longer has.
set +e
report=$(git -C "$mirror" push --porcelain --prune "$target_url" "${refspecs[@]}" 2>&1)
status=$?
set -e

# Porcelain lines: <flag> TAB <from>:<to> TAB <summary>. ' ' fast-forward, '+' forced,
# '-' deleted, '*' new, '=' up to date, '!' rejected.
pushed=0
rejected=0
while IFS=$'\t' read -r flag refs summary; do
  case "$flag" in
    ' ' | '+' | '-' | '*')
      pushed=$((pushed + 1))
      echo "mirrored ${refs#*:} (${summary})"
      ;;
    '!')
      rejected=$((rejected + 1))
      echo "REJECTED ${refs#*:}: ${summary}" >&2
      ;;
  esac
done <<<"$report"

if [[ $status -ne 0 || $rejected -ne 0 ]]; then
  echo "mirror failed: $rejected ref(s) rejected by $target_url (git push exit $status)" >&2
  echo "$report" | grep -v '^[ +*=-]	' >&2 || true
  exit 1
fi
echo "mirror done: $pushed ref(s) changed"
