# gnuplot script of ./stack bench: requests/s against concurrency (log x),
# one line per strategy for the stack (through nginx) and for the
# database-only baseline (dashed). ./stack bench writes one data file per
# line, "concurrency req_per_s", as dir/NAME.dat, and names them:
#   gnuplot -e "dir='var/bench/plot'; stack='stack-named_lock stack-unique'" \
#       -e "db='db-named_lock db-unique'; title='...'" tests/bench/throughput.gp
# The image goes beside dir: var/bench/throughput.png.
if (!exists("dir")) dir = "var/bench/plot"
if (!exists("stack")) stack = "stack-named_lock stack-unique"
if (!exists("db")) db = "db-named_lock db-unique"
if (!exists("title")) title = "regonce: requests/s against concurrency"
set terminal pngcairo size 900,560 noenhanced
set output dir . "/../throughput.png"
set title title
set xlabel "concurrency (wrk connections / dbbench processes)"
set ylabel "requests/s"
set logscale x 2
set xrange [0.8:180]
set xtics (1, 8, 32, 64, 128)
set yrange [0:*]
set grid
set key outside bottom center horizontal
plot for [name in stack] dir . "/" . name . ".dat" using 1:2 \
        with linespoints lw 2 title name, \
    for [name in db] dir . "/" . name . ".dat" using 1:2 \
        with linespoints lw 2 dt 2 title name
