#!/bin/bash
# (the shared workload suite of ../shared/bench, kept here so the benchmark runs from a clone)
# One workload of the comparison suite, run as an ordinary program.
# usage: workloads.sh NAME WORKDIR     (WORKDIR holds the helpers built by compare.py)
set -e
w="$2"
case "$1" in
  forkexec)  i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done ;;
  pyimport)  python3 -c 'import email.mime.text, json, http.client, asyncio, decimal, sqlite3, xml.dom.minidom' ;;
  gcc)       gcc -O0 -o "$w/hello.out" "$w/hello.c" && "$w/hello.out" >/dev/null ;;
  tar)       tar cf - /usr/lib/python3.11 2>/dev/null | cat > /dev/null ;;
  find)      find /usr/lib -type f 2>/dev/null | wc -l >/dev/null ;;
  git)       d=$(mktemp -d "$w/git.XXXXXX"); cd "$d" && git init -q && cp -r /usr/lib/python3.11/json . \
               && git add -A && git -c user.email=a@b -c user.name=a commit -qm x && cd / && rm -rf "$d" ;;
  writes)    d=$(mktemp -d "$w/wr.XXXXXX"); for i in $(seq 300); do echo "$i" > "$d/f$i"; done; rm -rf "$d" ;;
  stat20k)   "$w/statloop" 20000 ;;
  getppid200k) "$w/pidloop" 200000 ;;
  *) echo "unknown workload $1" >&2; exit 2 ;;
esac
