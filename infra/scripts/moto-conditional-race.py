#!/usr/bin/env python3
"""Shows that moto applies a conditional PutItem without a lock (DynamoDB applies each write to an
item atomically): in each round, four clients put the same item at once, each on the condition
that it is still at version 0; more than one success in a round is a lost update.

Why the fault run on moto sends its writes one at a time (README, "Reliability").

    python3 infra/scripts/moto-conditional-race.py [rounds]     # default 1000

Starts its own moto server on a free port; needs boto3 and moto[server] (installed by the test
script).
"""
import socket
import subprocess
import sys
import threading
import time

import boto3
from botocore.config import Config

WRITERS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        kw = dict(
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="eu-west-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}),
        )
        admin = boto3.client("dynamodb", **kw)
        for _ in range(100):
            try:
                admin.list_tables()
                break
            except Exception:
                time.sleep(0.1)
        admin.create_table(
            TableName="race",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        writers = [boto3.client("dynamodb", **kw) for _ in range(WRITERS)]
        lost_updates = 0
        for _ in range(rounds):
            admin.put_item(TableName="race", Item={"pk": {"S": "a"}, "v": {"N": "0"}})
            wins = []
            start = threading.Barrier(WRITERS)

            def write(i):
                start.wait()
                try:
                    writers[i].put_item(
                        TableName="race",
                        Item={"pk": {"S": "a"}, "v": {"N": "1"}, "by": {"S": str(i)}},
                        ConditionExpression="v = :v",
                        ExpressionAttributeValues={":v": {"N": "0"}},
                    )
                    wins.append(i)
                except writers[i].exceptions.ConditionalCheckFailedException:
                    pass

            threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if len(wins) > 1:
                lost_updates += 1
        print(
            f"{rounds} rounds of {WRITERS} concurrent conditional puts on version 0: "
            f"{lost_updates} with more than one success (DynamoDB: 0)"
        )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
