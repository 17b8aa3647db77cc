#!/bin/sh
# Shell guest: ordinary tools trying to change a host file ($1) from a
# session whose only writable directory is the cwd.
f="$1"
echo PWNED > "$f"
echo PWNED >> "$f"
printf 'PWNED' | dd of="$f" conv=notrunc 2>/dev/null
cp /etc/hostname "$f"
sed -i 's/host/PWNED/' "$f"
truncate -s 0 "$f"
true > "$f" || true
ln -sf "$f" ./l && echo PWNED > ./l
mv "$f" ./stolen
rm -f "$f"
touch -d 2020-01-01 "$f"
exit 0
