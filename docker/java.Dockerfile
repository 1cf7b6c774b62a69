# The base with a Java 17 runtime, from Debian's packages (for ZooKeeper and
# Spark).
FROM mesos-rs-base
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
