#!/usr/bin/env bash
# Mirror every branch and tag of one git repository, and its default branch, to another.
#
#   mirror.sh SOURCE_URL TARGET_URL [CACHE_DIR]
#
# Semantics of `git push --mirror`, limited to refs/heads/* and refs/tags/*: new and
# updated refs are pushed, force-pushes are propagated, refs deleted in the source are
# deleted in the target. Other refs (refs/pull/*, notes, CodeCommit's own) are left
# alone, because CodeCommit rejects them. Running it again with nothing new pushes
# nothing. A ref the target refuses makes it exit non-zero, naming the ref and the reason.
#
# The default branch (HEAD) is mirrored too, after new refs are pushed and before any is
# deleted: CodeCommit refuses to delete a repository's default branch, so a source whose
# default was renamed would otherwise fail every run. For a CodeCommit target that is
# `aws codecommit update-default-branch`; for a local repository, `git symbolic-ref`.
#
# Only a successful read of the source decides what the target loses. A source that
# cannot be read fails the run before anything is pushed. A source that reads as empty
# (no branch, no tag) is "nothing to do" when the target is empty too, as on a fresh
# stack. When the target has branches or tags, the run fails and deletes nothing: a
# CodeCommit repository that has had a branch cannot lose its default branch, so an
# empty source next to a full target means a recreated repository or a wrong URL, for a
# person to look at. To empty the target on purpose, recreate it.
#
# A push to the source while this runs is mirrored by this run: after pushing, it reads
# the source again and makes another pass if the source moved (up to MAX_PASSES), since
# a start of the build refused because this one is running is not retried.
#
# In CodeBuild (CODEBUILD_BUILD_ID is set) git authenticates to CodeCommit with the
# AWS CLI's credential helper and the build role; nothing else needs credentials.
set -euo pipefail
export LC_ALL=C # one collation for sort and comm

MAX_PASSES=5

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
changed=0
failures=""

fail() {
  echo "mirror failed: $*" >&2
  exit 1
}

# The branch HEAD names, from `git ls-remote --symref URL HEAD` output on stdin; empty
# when HEAD is missing or dangling. A server that does not say which branch HEAD is
# gets the one branch of the cache at HEAD's commit, if exactly one is.
head_branch() {
  local listing symref object
  listing=$(cat)
  symref=$(sed -n 's|^ref: \(refs/heads/[^	]*\)	HEAD$|\1|p' <<<"$listing")
  if [[ -n "$symref" ]]; then
    echo "$symref"
    return
  fi
  object=$(sed -n 's|^\([0-9a-f]*\)	HEAD$|\1|p' <<<"$listing")
  [[ -n "$object" ]] || return 0
  git -C "$mirror" for-each-ref --points-at="$object" --format='%(refname)' refs/heads \
    | awk 'NR == 1 { b = $0 } END { if (NR == 1) print b }'
}

set_target_head() {
  local branch=$1 path=${target_url#file://}
  local codecommit='^https://git-codecommit(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/v1/repos/([^/]+)$'
  if [[ -d "$path" ]]; then
    git --git-dir="$path" symbolic-ref HEAD "refs/heads/$branch"
  elif [[ "$target_url" =~ $codecommit ]]; then
    aws codecommit update-default-branch --region "${BASH_REMATCH[2]}" \
      --repository-name "${BASH_REMATCH[4]}" --default-branch-name "$branch"
  else
    echo "cannot set the default branch of $target_url: neither a CodeCommit URL nor a local repository" >&2
    return 1
  fi
}

# One `git push --porcelain` of the given refspecs to the target; prints what it changed
# and counts changes and rejected refs. Porcelain lines: <flag> TAB <from>:<to> TAB
# <summary>. ' ' fast-forward, '+' forced, '-' deleted, '*' new, '=' up to date, '!' rejected.
declare -A rejected=()
push() {
  local report status flag refs summary
  set +e
  report=$(git -C "$mirror" push --porcelain "$target_url" "$@" 2>&1)
  status=$?
  set -e
  while IFS=$'\t' read -r flag refs summary; do
    case "$flag" in
      ' ' | '+' | '-' | '*')
        changed=$((changed + 1))
        echo "mirrored ${refs#*:} (${summary})"
        ;;
      '!')
        rejected[${refs#*:}]=$summary
        echo "REJECTED ${refs#*:}: ${summary}" >&2
        ;;
    esac
  done <<<"$report"
  if [[ $status -ne 0 ]] && ! grep -q '^!	' <<<"$report"; then
    echo "$report" >&2
    fail "could not push to $target_url (git push exit $status: no ref was accepted or rejected, see git's message above)"
  fi
  if grep -q '^!	' <<<"$report"; then
    failures+=$(grep -v '^[ +*=-]	' <<<"$report" || true)$'\n'
  fi
}

# The source's branches and tags as "<object> <ref>" lines, from the cache or the source.
cached_refs() { git -C "$mirror" for-each-ref --format='%(objectname) %(refname)' refs/heads refs/tags | sort; }
source_refs() { git ls-remote --refs --heads --tags "$source_url" | tr '\t' ' ' | sort; }

for ((pass = 1; pass <= MAX_PASSES; pass++)); do
  # Read the source: its default branch, then an exact copy of its branches and tags
  # (deleted ones pruned, rewritten ones forced). Either failing stops the run here.
  if ! source_head=$(git ls-remote --symref "$source_url" HEAD); then
    fail "could not read $source_url (git ls-remote); nothing was pushed"
  fi
  if ! git -C "$mirror" fetch --quiet --prune --prune-tags --force "$source_url" "${refspecs[@]}"; then
    fail "could not fetch $source_url; nothing was pushed"
  fi
  source_head=$(head_branch <<<"$source_head")

  if [[ -z "$(cached_refs)" ]]; then
    if ! target=$(git ls-remote --refs --heads --tags "$target_url"); then
      fail "could not read $target_url (git ls-remote); nothing was pushed"
    fi
    if [[ -n "$target" ]]; then
      fail "$source_url has no branch or tag but $target_url has $(wc -l <<<"$target"); refusing to delete them all (recreate $target_url to empty it)"
    fi
    echo "mirror done: $changed ref(s) changed ($source_url is empty: nothing to do)"
    exit 0
  fi

  # New and updated refs first, so the source's default branch exists in the target.
  push "${refspecs[@]}"
  if ! target_head=$(git ls-remote --symref "$target_url" HEAD) \
    || ! target=$(git ls-remote --refs --heads --tags "$target_url"); then
    fail "could not read $target_url (git ls-remote); nothing was deleted"
  fi
  if [[ -z "$source_head" ]]; then
    echo "$source_url names no default branch; that of $target_url is left as it is" >&2
  elif [[ "$(head_branch <<<"$target_head")" != "$source_head" ]]; then
    set_target_head "${source_head#refs/heads/}" \
      || fail "could not set the default branch of $target_url to ${source_head#refs/heads/}; nothing was deleted"
    changed=$((changed + 1))
    echo "mirrored HEAD (default branch ${source_head#refs/heads/})"
  fi
  # Then deletions: branches and tags the target has and the source no longer has.
  mapfile -t deletions < <(comm -13 <(cached_refs | cut -d' ' -f2 | sort) <(cut -f2 <<<"$target" | sed '/^$/d' | sort) | sed 's/^/:/')
  if [[ ${#deletions[@]} -gt 0 ]]; then
    push "${deletions[@]}"
  fi

  # Done unless the source moved while this pass ran.
  if ! latest=$(source_refs) || [[ "$latest" == "$(cached_refs)" ]]; then
    break
  fi
  if [[ $pass -eq $MAX_PASSES ]]; then
    echo "$source_url is still changing after $MAX_PASSES passes; the next run mirrors the rest" >&2
  else
    echo "$source_url changed during pass $pass; mirroring again"
  fi
done

if [[ ${#rejected[@]} -ne 0 ]]; then
  echo "mirror failed: ${#rejected[@]} ref(s) rejected by $target_url" >&2
  printf '%s' "$failures" >&2
  exit 1
fi
echo "mirror done: $changed ref(s) changed"
