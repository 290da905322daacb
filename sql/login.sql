-- Recommendations at login: the user's published top-N with titles and
-- genres, best first. An index search on recommendations' primary key.
-- Parameters: :user_id (external MovieLens user id), :limit (rows wanted).
SELECT r.rank, r.movie_id, m.title, m.genres, r.score
FROM recommendations AS r
LEFT JOIN movies AS m ON m.movie_id = r.movie_id
WHERE r.user_id = :user_id
ORDER BY r.rank
LIMIT :limit;
