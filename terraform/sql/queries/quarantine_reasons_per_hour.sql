-- Quarantined records per arrival hour and reason over the last seven days.
SELECT dt, hour, reason, count(*) AS records
FROM quarantine
WHERE dt >= CAST(CAST(current_date - INTERVAL '7' DAY AS date) AS varchar)
GROUP BY dt, hour, reason
ORDER BY dt, hour, records DESC
