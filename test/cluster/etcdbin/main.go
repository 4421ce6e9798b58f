// etcd server for the cluster test tier, built from the published go.etcd.io/etcd/server/v3 module.
// Its own module keeps etcd's dependency graph apart from Kubernetes'.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
