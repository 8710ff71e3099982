// Command etcd is etcd's own server entry point, built from its module because the
// distribution's etcd is older than the API server accepts.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
