// Command example produces a few records through sluiced with the Go client: a ping,
// the topic's partition count, pipelined keyed calls with a header, then one
// synchronous call.
//
//	go run ./example -socket /run/sluice/sluiced.sock -topic events -count 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	sluice "sluice/clients/go"
)

func main() {
	socket := flag.String("socket", sluice.DefaultSocket, "sluiced's socket")
	topic := flag.String("topic", "events", "topic to produce to")
	count := flag.Int("count", 10, "pipelined calls, one record each")
	flag.Parse()
	log.SetFlags(0)

	client, err := sluice.Dial(*socket, sluice.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	partitions, err := client.Metadata(ctx, *topic)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gateway: %s; %s has %d partitions\n", client.Version(), *topic, partitions)

	host, _ := os.Hostname()
	// Send every call first, then collect the acks: the calls are pipelined.
	calls := make([]*sluice.Call, 0, *count)
	for i := 0; i < *count; i++ {
		rec := sluice.Record{
			Key:     []byte(fmt.Sprintf("key-%d", i%3)), // same key, same partition
			Value:   []byte(fmt.Sprintf("hello %d", i)),
			Headers: []sluice.Header{{Key: "host", Value: []byte(host)}},
		}
		call, err := client.Produce(ctx, *topic, []sluice.Record{rec})
		if err != nil {
			log.Fatal(err)
		}
		calls = append(calls, call)
	}
	failed := 0
	for _, call := range calls {
		ack, err := call.Wait(ctx)
		switch {
		case err == nil:
			fmt.Printf("ref %d: partition %d offset %d\n", call.Ref, ack.Partition, ack.BaseOffset)
		case errors.Is(err, sluice.ErrInDoubt):
			// The connection went after the call was sent: it may be in Kafka. Resending
			// it is the application's choice (and may duplicate it).
			fmt.Printf("ref %d: in doubt: %v\n", call.Ref, err)
			failed++
		default:
			fmt.Printf("ref %d: failed (%s): %v\n", call.Ref, sluice.CodeOf(err), err)
			failed++
		}
	}

	ack, err := client.ProduceSync(ctx, *topic, []sluice.Record{{Value: []byte("done"), Timestamp: time.Now()}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sync: partition %d offset %d\n", ack.Partition, ack.BaseOffset)
	if failed > 0 {
		os.Exit(1)
	}
}
