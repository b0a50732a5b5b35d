-- Records per event-time hour over the last seven days, from the events view (raw and compacted, each record once).
SELECT dt, hour, count(*) AS records
FROM events
WHERE dt >= CAST(CAST(current_date - INTERVAL '7' DAY AS date) AS varchar)
GROUP BY dt, hour
ORDER BY dt, hour
