# gnuplot script of ./stack bench: requests/s against concurrency (log x),
# one line per strategy for the stack (nginx + workers) and for the
# database-only baseline. ./stack bench writes one data file per line,
# "concurrency req_per_s", into dir, and calls:
#   gnuplot -e "dir='var/bench/plot'; title='...'" tests/bench/throughput.gp
if (!exists("dir")) dir = "var/bench/plot"
if (!exists("title")) title = "regonce: requests/s (replays=1, table_rows=0)"
set terminal pngcairo size 900,560 noenhanced
set output dir . "/../throughput.png"
set title title
set xlabel "concurrency (connections / processes)"
set ylabel "requests/s"
set logscale x 2
set xtics (1, 8, 32, 64, 128)
set yrange [0:*]
set grid
set key left top
plot dir . "/stack-named_lock.dat" using 1:2 with linespoints lw 2 title "named_lock via nginx", \
     dir . "/stack-unique.dat" using 1:2 with linespoints lw 2 title "unique via nginx", \
     dir . "/db-named_lock.dat" using 1:2 with linespoints dt 2 title "named_lock DB only", \
     dir . "/db-unique.dat" using 1:2 with linespoints dt 2 title "unique DB only"
