FROM mesos-rs-java
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends zookeeper >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
# Standalone ZooKeeper on 2181, four-letter words on, no admin server.
RUN mkdir -p /var/lib/zookeeper-data \
 && printf '%s\n' tickTime=2000 dataDir=/var/lib/zookeeper-data clientPort=2181 \
      admin.enableServer=false '4lw.commands.whitelist=*' >/etc/zookeeper/conf/zoo-mesos.cfg
EXPOSE 2181
CMD ["java", "-cp", "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar", \
     "org.apache.zookeeper.server.quorum.QuorumPeerMain", "/etc/zookeeper/conf/zoo-mesos.cfg"]
