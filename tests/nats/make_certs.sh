#!/bin/sh
# make_certs.sh DIR - a CA of the tests' own and two certificates it signs,
# for TLS tests against nats-server (test_nats, test_cluster.py): in DIR,
# ca.pem; server.pem and server.key (for IP 127.0.0.1); client.pem and
# client.key (client authentication). EC keys: quick to make. Valid 1 day.
set -e
cd "$1"
K="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $K -days 1 -keyout ca.key -out ca.pem -subj /CN=bus-test-ca 2>/dev/null
echo subjectAltName=IP:127.0.0.1 >server.ext
echo extendedKeyUsage=clientAuth >client.ext
for who in server client; do
    openssl req $K -keyout $who.key -out $who.csr -subj /CN=bus-test-$who 2>/dev/null
    openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
        -extfile $who.ext -out $who.pem 2>/dev/null
done
