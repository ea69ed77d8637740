"""gen_sql.py - writes the sqlite3 workload of scripts/bench.sh to stdout: deterministic SQL for
an in-memory database (tables, INSERT statements in transactions, indexes, joins, aggregates,
updates, deletes). Every statement is parsed and prepared by sqlite3, which allocates.

    python3 gen_sql.py ROWS > workload.sql; sqlite3 :memory: < workload.sql
"""
import random
import sys


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rng = random.Random(7)
    out = sys.stdout
    out.write("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INT, bio TEXT);\n")
    out.write("CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INT, amount REAL, note TEXT);\n")
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    users = rows // 4
    out.write("BEGIN;\n")
    for i in range(users):
        bio = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 40)))
        out.write("INSERT INTO users VALUES(%d, 'user%d', 'u%d@example.org', %d, '%s');\n"
                  % (i, i, i, rng.randrange(18, 90), bio))
    out.write("COMMIT;\nBEGIN;\n")
    for i in range(rows):
        note = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 12)))
        out.write("INSERT INTO orders VALUES(%d, %d, %.2f, '%s');\n"
                  % (i, rng.randrange(users), rng.random() * 500, note))
    out.write("COMMIT;\n")
    out.write("CREATE INDEX orders_user ON orders(user_id);\n")
    out.write("CREATE INDEX users_age ON users(age);\n")
    for age in range(18, 90, 3):
        out.write("SELECT count(*), sum(o.amount) FROM users u JOIN orders o ON o.user_id = u.id "
                  "WHERE u.age = %d;\n" % age)
    out.write("SELECT u.name, count(*) c FROM users u JOIN orders o ON o.user_id = u.id "
              "GROUP BY u.id ORDER BY c DESC, u.name LIMIT 5;\n")
    out.write("SELECT substr(note, 1, 5) k, count(*) FROM orders GROUP BY k ORDER BY 2 DESC LIMIT 5;\n")
    out.write("BEGIN;\n")
    for i in range(0, rows, 7):
        out.write("UPDATE orders SET note = note || ' updated', amount = amount * 1.1 WHERE id = %d;\n" % i)
    out.write("DELETE FROM orders WHERE amount < 50;\nCOMMIT;\n")
    out.write("SELECT count(*), round(sum(amount), 2) FROM orders;\n")
    out.write("SELECT group_concat(name, ',') FROM (SELECT name FROM users ORDER BY bio LIMIT 200);\n")


if __name__ == "__main__":
    main()
